Promise.reject(new Error('nope'));
