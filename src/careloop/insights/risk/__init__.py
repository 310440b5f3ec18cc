"""Risk models: no-show risk at booking time and non-adherence risk from refill history."""
