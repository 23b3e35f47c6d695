//! ratufa agent.
