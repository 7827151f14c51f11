"""The HTML report with plots, built from the results folder."""
