"""`python -m cli`: the `parley` command."""

from cli import main

main()
