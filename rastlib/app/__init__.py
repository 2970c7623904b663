"""What a user runs: the command line (`cli`), stylising folders (`batch`), the demo (`demo`) and the recipe
that trains the demo checkpoint phase by phase, judged by the model bar (`recipe`). May import every layer but
lab."""
