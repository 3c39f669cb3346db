mod bad_days;
mod chromium;
mod day;
