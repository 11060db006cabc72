Console.WriteLine("convert");
