mod close_crash;
mod day_e2e;
mod inputs;
