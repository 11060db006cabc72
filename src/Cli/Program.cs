Console.WriteLine("autoglm");
