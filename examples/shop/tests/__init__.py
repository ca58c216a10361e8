"""Tests of the kiln example shop."""
