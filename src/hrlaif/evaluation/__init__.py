"""Evaluation pieces behind ``hrlaif eval`` (``hrlaif.evaluate``): pure metrics, benchmark accuracy,
toxicity scorers, win ratio against a baseline and the satisfaction proxy. Importing this
package imports no torch."""
