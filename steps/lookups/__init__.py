"""Offline lookups (phone, email, domain, IP): I/O-kind steps that cost credits.

One module per lookup; `base` holds what they share (the input rule, the
output envelope, the credit rule).
"""
