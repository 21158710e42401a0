"""``python -m app`` runs the ``doclora`` command line."""

from app.cli import main

main()
