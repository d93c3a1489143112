"""The local HTTP service and its web page."""
