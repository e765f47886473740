"""Export, verification, edge bundles and deployment of registered models."""
