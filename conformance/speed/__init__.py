"""Speed: the timing core, benchmark inputs and the roofline, and the bench command."""
