"""``python -m cvops.cli``: the ``cvops`` command line."""

from cvops.cli import main

if __name__ == "__main__":
    main()
