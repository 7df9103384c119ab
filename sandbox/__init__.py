"""crowdshelf without Telegram: a local Bot API server that the test suite, the demo and the sandbox share."""
