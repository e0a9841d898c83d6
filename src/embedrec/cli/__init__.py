"""The `embedrec` command line: a thin layer over the library."""
