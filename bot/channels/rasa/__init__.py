"""Rasa: an action server running cxbot's survey inside a shop's Rasa assistant, and proactive
delivery through Rasa's ``trigger_intent`` (so surveys reach WhatsApp, Messenger, Slack, web chat).
"""
