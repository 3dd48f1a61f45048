"""The only code that touches vendor SDKs and AWS: DBN files, Databento, and later DynamoDB, S3, IBKR."""
