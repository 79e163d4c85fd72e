"""One module per CLI command; each stays thin and calls the library."""
