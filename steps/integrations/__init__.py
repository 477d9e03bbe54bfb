"""Integrations: Slack, Teams and Discord webhooks, email over SMTP, SMS in Twilio's shape.

One module per channel; `chat` holds what the three chat webhooks share,
`hosts` the vendor host rules of reference 004, `mail_html` the HTML
sanitizing, `quota` the plan's daily send caps as a step sees them.
`integration` sends through an integration saved at
`/api/workflows/integrations` (reference 002), reusing these senders.
"""
