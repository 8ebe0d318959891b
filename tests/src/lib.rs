//! Test harness: moto server, tool paths, fixtures.
