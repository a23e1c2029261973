"""The mail DNS records (SPF, DKIM, DMARC) a municipality publishes."""
