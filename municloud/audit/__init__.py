"""The live cloud audit and the rules it shares with the Pulumi policy pack."""
