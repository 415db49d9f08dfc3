"""The Qt layer: main window, panels, dialogs and the worker threads that drive the core."""
