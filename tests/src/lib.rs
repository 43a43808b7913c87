//! Harness for end-to-end tests: starts the real IdP, httpbin and the gateway on free loopback ports.
