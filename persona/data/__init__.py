"""From script or novel to dataset: extract utterances, build ShareGPT/Alpaca data."""
