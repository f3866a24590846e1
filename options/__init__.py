"""Command-line options: base, train and test parsers with the classic flag names."""
