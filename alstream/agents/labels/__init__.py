"""The labels agent."""
