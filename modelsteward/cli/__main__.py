"""``python -m modelsteward.cli``: the same as the ``steward`` console script."""

from modelsteward.cli import main

if __name__ == "__main__":
    main()
