"""Field monitoring: what deployed models see, compared with what they were trained on (drift statistics)."""
