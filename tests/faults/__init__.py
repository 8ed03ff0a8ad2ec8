"""Fault injection: a real loop SIGKILLed at chosen points, then resumed and checked."""
