mod day_e2e;
