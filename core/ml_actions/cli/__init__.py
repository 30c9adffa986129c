"""The only room that talks to the runner: commands, their declarations and the Actions I/O."""
