"""The tooling: the papermill pipeline, publishing the book, the command line."""
