"""`python -m chs_excel` runs the `chs` command line."""

from chs_excel.app.cli import main

main()
