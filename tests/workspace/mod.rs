//! How the workspace hangs together: the installed gateway stays free of the
//! simulator and of developer tools, and only the binary talks to the
//! terminal.
mod dependencies;
mod imports;
mod layering;
