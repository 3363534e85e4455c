"""The benchmark harness of issue 5: throughput, latency, isolation, backlog, ledger reads."""
