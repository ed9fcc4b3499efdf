console.error('boom', 42);
