"""The web app: an HTTP API and a page to search, rate, get recommendations and explore the item map."""

from embedrec.web.app import create_app

__all__ = ["create_app"]
