"""Loopback stand-ins for the providers the product talks to: an SMTP
server that keeps what it receives, and an HTTP server speaking the parts of
Twilio's REST API the product uses. ``make run`` starts them so a new user
sees messages move through their states; the tests and ``make bench`` use
the same servers to count what reached "the provider"."""
