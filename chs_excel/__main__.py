"""`python -m chs_excel` runs the `chs` command line."""

from chs_excel.cli import main

main()
