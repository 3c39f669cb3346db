mod pymodbus_e2e;
