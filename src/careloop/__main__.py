"""``python -m careloop``: the same commands as the ``careloop`` script."""

from careloop.cli import main

main()
