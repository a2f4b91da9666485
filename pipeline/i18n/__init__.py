"""The visitor's language: the UI languages (``locales/languages.json``), the message
catalogues (``locales/<code>.json``, one per language) and messages that are rendered in a
language only when somebody reads them (:class:`Message`).

Apart from the web app because the pipeline's own words (compliance checks, retake advice,
the batch report) are translated too, for the CLI's ``--lang`` as much as for the page.
"""
from pipeline.i18n.catalogue import LOCALES_DIR, catalogue, placeholders, translate
from pipeline.i18n.languages import DEFAULT_LANGUAGE, LANGUAGES, language_from_accept, resolve_language
from pipeline.i18n.message import Message, Text, render

__all__ = ["DEFAULT_LANGUAGE", "LANGUAGES", "LOCALES_DIR", "Message", "Text", "catalogue", "language_from_accept",
           "placeholders", "render", "resolve_language", "translate"]
