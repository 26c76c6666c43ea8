// Package notmain is a library, not a command: the construct refuses it as Entry.
package notmain
