"""Integration tests: placeholder until the harness lands."""
print("PASS integration-placeholder-skipped")
