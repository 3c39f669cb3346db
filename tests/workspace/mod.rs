//! How the workspace hangs together: the installed gateway stays free of the
//! simulator and of developer tools.
mod dependencies;
