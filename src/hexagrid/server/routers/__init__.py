"""Thin HTTP routers: parse, check scope, call a service function, shape the answer."""
